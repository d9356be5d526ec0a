package dev.obd.registry;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.Expiry;
import java.time.Duration;
import java.util.function.Function;

/** Bounded caches whose entries each live as long as their value says (a token, an answer). */
final class ExpiringCache {
  private ExpiringCache() {}

  /** At most {@code maxSize} entries; each expires {@code ttl(value)} after it was written. */
  static <K, V> Cache<K, V> build(long maxSize, Function<V, Duration> ttl) {
    return Caffeine.newBuilder()
        .maximumSize(maxSize)
        .expireAfter(
            new Expiry<K, V>() {
              @Override
              public long expireAfterCreate(K key, V value, long now) {
                return ttl.apply(value).toNanos();
              }

              @Override
              public long expireAfterUpdate(K key, V value, long now, long current) {
                return ttl.apply(value).toNanos();
              }

              @Override
              public long expireAfterRead(K key, V value, long now, long current) {
                return current;
              }
            })
        .build();
  }
}
