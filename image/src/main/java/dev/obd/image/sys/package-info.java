/**
 * The libc calls the JDK does not offer (sparse-file seeking, xattrs, mknod, lchown, utimensat).
 */
package dev.obd.image.sys;
