/**
 * Converting OCI images to OverlayBD images ({@link dev.obd.image.convert.Converter}): layers are
 * applied to a loop-mounted ext4 and committed as block diffs. Needs root.
 */
package dev.obd.image.convert;
