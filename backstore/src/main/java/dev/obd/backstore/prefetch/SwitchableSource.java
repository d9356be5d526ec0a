package dev.obd.backstore.prefetch;

import dev.obd.image.ByteSource;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * A layer blob whose bytes first come from the registry and, once a background download has
 * finished and been verified, from the local copy. Both hold identical bytes, so a reader never
 * notices the switch. Thread-safe.
 */
public final class SwitchableSource implements ByteSource {
  private volatile ByteSource current;
  private final ByteSource remote;

  public SwitchableSource(ByteSource remote) {
    this.remote = remote;
    this.current = remote;
  }

  public ByteSource remote() {
    return remote;
  }

  /** Serves all later reads from {@code local}, which must hold the same bytes. */
  public void switchTo(ByteSource local) throws IOException {
    if (local.size() != remote.size()) {
      throw new IOException(
          "switch " + remote.describe() + " to " + local.describe() + ": sizes differ");
    }
    current = local;
  }

  public boolean local() {
    return current != remote;
  }

  @Override
  public long size() throws IOException {
    return current.size();
  }

  @Override
  public void readFully(long position, ByteBuffer dst) throws IOException {
    current.readFully(position, dst);
  }

  @Override
  public String describe() {
    return current.describe();
  }

  @Override
  public void close() throws IOException {
    try {
      current.close();
    } finally {
      if (current != remote) {
        remote.close();
      }
    }
  }
}
