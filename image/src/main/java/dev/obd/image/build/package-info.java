/**
 * Writing layer blobs: {@link dev.obd.image.build.LayerCommitter} commits a raw disk image as a
 * bottom layer or as a block diff over a lower stack; {@link dev.obd.image.build.LayerBlobWriter}
 * packages any committed layer as tar(ZFile(LSMT)).
 */
package dev.obd.image.build;
