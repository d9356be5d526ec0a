/**
 * OverlayBD images: the byte sources layers are read from ({@link dev.obd.image.ByteSource}, {@link
 * dev.obd.image.FileByteSource}, {@link dev.obd.image.MappedFileByteSource}) and the virtual disk a
 * stack of layers presents ({@link dev.obd.image.VirtualDisk}).
 *
 * <p>Packages follow the data flow: {@code tar} → {@code zfile} → {@code lsmt} are the three
 * wrappers of a layer blob; {@code layer} opens blobs and stacks them ({@link
 * dev.obd.image.layer.LayerReader}, {@link dev.obd.image.layer.LayerStack}); {@code build} writes
 * layers; {@code config} is config.v1.json; {@code oci} and {@code convert} turn OCI images into
 * OverlayBD images; {@code sys} holds the few libc calls the JDK lacks. Lower packages never import
 * upper ones.
 */
package dev.obd.image;
