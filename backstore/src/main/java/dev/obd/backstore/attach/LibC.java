package dev.obd.backstore.attach;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;

/**
 * The few libc calls the attach paths need that the JDK lacks: raw sockets for netlink, a unix
 * socketpair for the kernel's nbd driver, ioctl for loop devices. Every call saves errno, read with
 * {@link #errno()}.
 */
public interface LibC {
  int AF_UNIX = 1;
  int AF_NETLINK = 16;
  int SOCK_STREAM = 1;
  int SOCK_RAW = 3;
  int SOCK_CLOEXEC = 0x80000;
  int NETLINK_GENERIC = 16;
  int O_RDONLY = 0;
  int O_RDWR = 2;
  int O_CLOEXEC = 0x80000;

  @SaveError
  int socket(int domain, int type, int protocol);

  @SaveError
  int socketpair(int domain, int type, int protocol, @Out int[] fds);

  @SaveError
  int bind(int fd, @In byte[] addr, int len);

  @SaveError
  long send(int fd, @In byte[] buf, long len, int flags);

  @SaveError
  long recv(int fd, @Out byte[] buf, long len, int flags);

  @SaveError
  int setsockopt(int fd, int level, int name, @In int[] value, int len);

  @SaveError
  int open(String path, int flags);

  @SaveError
  int close(int fd);

  @SaveError
  int ioctl(int fd, long request, long arg);

  @SaveError
  int ioctl(int fd, long request, Pointer arg);

  @SaveError
  String strerror(int errnum);

  /** The loaded library; loading happens once, on first use. */
  static LibC get() {
    return Holder.LIBC;
  }

  /** errno of the last call on this thread. */
  static int errno() {
    return jnr.ffi.Runtime.getRuntime(get()).getLastError();
  }

  /** "strerror(errno) (errno N)" for messages. */
  static String describeErrno(int errno) {
    return get().strerror(errno) + " (errno " + errno + ")";
  }

  /** Lazy holder: tests that never attach never load native code. */
  final class Holder {
    private Holder() {}

    static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
  }
}
