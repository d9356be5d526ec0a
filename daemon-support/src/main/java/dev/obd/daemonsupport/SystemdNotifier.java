package dev.obd.daemonsupport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;

/**
 * Tells systemd about the daemon's state ({@code Type=notify}, sd_notify(3)): one unix datagram per
 * message to the socket named by {@code $NOTIFY_SOCKET}, a path or, with a leading {@code @}, a
 * name in the abstract namespace. The JDK cannot send unix datagrams, hence jnr-unixsocket. Without
 * {@code NOTIFY_SOCKET} (not started by systemd) every call does nothing.
 *
 * <p>Both daemons use this one. Thread-safe.
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

  /**
   * Sends {@code state}, e.g. {@code READY=1}; newline-separated assignments may be combined.
   * Failures are logged, never thrown: systemd then times the start out, which names the unit.
   */
  public void notify(String state) {
    if (socket == null) {
      return;
    }
    String address = socket.startsWith("@") ? "\0" + socket.substring(1) : socket;
    try (UnixDatagramChannel ch = UnixDatagramChannel.open()) {
      ch.send(
          ByteBuffer.wrap(state.getBytes(StandardCharsets.UTF_8)), new UnixSocketAddress(address));
    } catch (IOException | RuntimeException e) {
      LOG.log(Level.WARNING, "notify systemd at " + socket + " of " + state + ": " + e, e);
    }
  }
}
