package dev.obd.snapshotter.daemon;

import dev.obd.snapshotter.snapshots.Info;
import dev.obd.snapshotter.snapshots.Kind;
import dev.obd.snapshotter.snapshots.Mount;
import dev.obd.snapshotter.snapshots.Snapshotter;
import dev.obd.snapshotter.snapshots.Usage;
import java.util.List;
import java.util.Map;

/**
 * The snapshotter behind the gRPC service: during the warm-up a scratch snapshotter, then, from
 * {@link #handOver} on, the real one. The service, its interceptors and the server are built once
 * and warmed up with the scratch snapshotter, so that the calls containerd makes later run through
 * the very objects (and compiled code) that the warm-up exercised, while the warm-up never touches
 * the real root. Thread-safe; does not own either snapshotter.
 */
final class HandOverSnapshotter implements Snapshotter {
  private volatile Snapshotter current;

  HandOverSnapshotter(Snapshotter scratch) {
    this.current = scratch;
  }

  /** From now on every call goes to {@code real}. */
  void handOver(Snapshotter real) {
    current = real;
  }

  @Override
  public List<Mount> prepare(String key, String parent, Map<String, String> labels) {
    return current.prepare(key, parent, labels);
  }

  @Override
  public List<Mount> view(String key, String parent, Map<String, String> labels) {
    return current.view(key, parent, labels);
  }

  @Override
  public List<Mount> mounts(String key) {
    return current.mounts(key);
  }

  @Override
  public void commit(String name, String key, Map<String, String> labels, String parent) {
    current.commit(name, key, labels, parent);
  }

  @Override
  public void remove(String key) {
    current.remove(key);
  }

  @Override
  public Info stat(String key) {
    return current.stat(key);
  }

  @Override
  public Info update(Info info, List<String> fieldPaths) {
    return current.update(info, fieldPaths);
  }

  @Override
  public java.util.Iterator<List<Info>> walk(List<String> filters) {
    return current.walk(filters);
  }

  @Override
  public Usage usage(String key) {
    return current.usage(key);
  }

  @Override
  public Map<Kind, Long> countByKind() {
    return current.countByKind();
  }

  @Override
  public void cleanup() {
    current.cleanup();
  }

  /** Closes neither snapshotter: their owner does. */
  @Override
  public void close() {}
}
