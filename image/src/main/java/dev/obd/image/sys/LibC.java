package dev.obd.image.sys;

import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The few libc calls the JDK does not offer: sparse-file seeking and hole punching, extended
 * attributes of any namespace, device nodes, ownership and modes of symlinks and set-id bits.
 * Loaded through jnr-ffi; use {@link Posix} rather than this interface.
 */
public interface LibC {
  @SaveError
  int open(String path, int flags, int mode);

  @SaveError
  int close(int fd);

  @SaveError
  long lseek(int fd, long offset, int whence);

  @SaveError
  int fallocate(int fd, int mode, long offset, long len);

  @SaveError
  int lsetxattr(String path, String name, @In byte[] value, @size_t long size, int flags);

  @SaveError
  @ssize_t
  long lgetxattr(String path, String name, @Out byte[] value, @size_t long size);

  @SaveError
  @ssize_t
  long llistxattr(String path, @Out byte[] list, @size_t long size);

  @SaveError
  int mknod(String path, int mode, long dev);

  @SaveError
  int lchown(String path, int uid, int gid);

  @SaveError
  int chmod(String path, int mode);

  @SaveError
  int utimensat(int dirfd, String path, @In long[] times, int flags);

  @SaveError
  int sched_getaffinity(int pid, @size_t long size, @Out byte[] mask);

  @SaveError
  int sched_setaffinity(int pid, @size_t long size, @In byte[] mask);

  int geteuid();

  String strerror(int errnum);
}
