package dev.obd.snapshotter.daemon;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;

/**
 * Tells systemd about the daemon's state ({@code Type=notify}): one unix datagram to the socket
 * named by {@code $NOTIFY_SOCKET}, which may be in the abstract namespace (a leading {@code @}).
 * The JDK cannot send unix datagrams, hence jnr-unixsocket. Without {@code NOTIFY_SOCKET} every
 * call does nothing.
 */
public final class SystemdNotifier {
  private static final Logger LOG = Logger.getLogger(SystemdNotifier.class.getName());

  private final String socket;

  public SystemdNotifier(String socket) {
    this.socket = socket == null || socket.isEmpty() ? null : socket;
  }

  public static SystemdNotifier fromEnvironment() {
    return new SystemdNotifier(System.getenv("NOTIFY_SOCKET"));
  }

  /** Sends {@code state} (e.g. {@code READY=1}); failures are logged, never thrown. */
  public void notify(String state) {
    if (socket == null) {
      return;
    }
    String path = socket.startsWith("@") ? "\0" + socket.substring(1) : socket;
    try (UnixDatagramChannel ch = UnixDatagramChannel.open()) {
      ch.send(ByteBuffer.wrap(state.getBytes(StandardCharsets.UTF_8)), new UnixSocketAddress(path));
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.WARNING, "failed to notify systemd at " + socket + " of " + state, e);
    }
  }
}
