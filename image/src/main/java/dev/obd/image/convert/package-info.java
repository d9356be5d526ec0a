/**
 * Converting OCI images to OverlayBD images ({@link dev.obd.image.convert.Converter}): layers are
 * applied to a loop-mounted ext4 (needs root) or to an EROFS image written in user space ({@link
 * dev.obd.image.erofs}), and committed as block diffs.
 */
package dev.obd.image.convert;
