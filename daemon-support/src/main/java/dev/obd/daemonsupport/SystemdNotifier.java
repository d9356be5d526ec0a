package dev.obd.daemonsupport;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.logging.Level;
import java.util.logging.Logger;
import jnr.constants.platform.Errno;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * Tells systemd about the daemon's state ({@code Type=notify}, sd_notify(3)): one unix datagram per
 * message to the socket named by {@code $NOTIFY_SOCKET}, a path or, with a leading {@code @}, a
 * name in the abstract namespace. Without {@code NOTIFY_SOCKET} (not started by systemd) every call
 * does nothing.
 *
 * <p>The JDK cannot send unix datagrams, so this binds socket(2), sendto(2) and close(2) alone with
 * jnr-ffi, on first use. jnr-unixsocket, used before, brought up jnr-posix for the first message
 * and put 200-250 ms of CPU between the socket appearing and READY=1.
 *
 * <p>Both daemons use this one. Thread-safe.
 */
public final class SystemdNotifier {
  private static final Logger LOG = Logger.getLogger(SystemdNotifier.class.getName());

  private static final int AF_UNIX = 1;
  private static final int SOCK_DGRAM = 2;
  private static final int SOCK_CLOEXEC = 02000000;
  private static final int MSG_NOSIGNAL = 0x4000;

  /** {@code sizeof(sun_path)} in {@code struct sockaddr_un} on Linux. */
  private static final int SUN_PATH = 108;

  /** The three calls, bound on first use. */
  public interface Calls {
    @SaveError
    int socket(int domain, int type, int protocol);

    @SaveError
    @ssize_t
    long sendto(int fd, @In byte[] buf, @size_t long len, int flags, @In byte[] addr, int addrLen);

    int close(int fd);
  }

  private static final class Holder {
    static final Calls CALLS = LibraryLoader.create(Calls.class).load("c");
  }

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
    try {
      send(address(socket), state.getBytes(StandardCharsets.UTF_8));
    } catch (IOException | RuntimeException | LinkageError e) {
      LOG.log(Level.WARNING, "notify systemd at " + socket + " of " + state + ": " + e, e);
    }
  }

  /**
   * {@code struct sockaddr_un} for {@code socket}: family, then the path with its terminating NUL,
   * or for {@code @name} a NUL and the name, whose length alone counts.
   */
  static byte[] address(String socket) throws IOException {
    boolean isAbstract = socket.startsWith("@");
    byte[] name = (isAbstract ? socket.substring(1) : socket).getBytes(StandardCharsets.UTF_8);
    int pathLength = name.length + 1; // the NUL before an abstract name, or after a path
    if (pathLength > SUN_PATH) {
      throw new IOException("socket name longer than " + (SUN_PATH - 1) + " bytes");
    }
    ByteBuffer addr = ByteBuffer.allocate(2 + pathLength).order(ByteOrder.nativeOrder());
    addr.putShort((short) AF_UNIX);
    if (isAbstract) {
      addr.put((byte) 0).put(name);
    } else {
      addr.put(name).put((byte) 0);
    }
    return addr.array();
  }

  private static void send(byte[] addr, byte[] message) throws IOException {
    Calls c = Holder.CALLS;
    int fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      throw new IOException("socket: " + errno(c));
    }
    try {
      if (c.sendto(fd, message, message.length, MSG_NOSIGNAL, addr, addr.length) < 0) {
        throw new IOException("sendto: " + errno(c));
      }
    } finally {
      c.close(fd);
    }
  }

  private static String errno(Calls c) {
    int errno = Runtime.getRuntime(c).getLastError();
    Errno e = Errno.valueOf(errno);
    return e == null ? "errno " + errno : e.description();
  }
}
