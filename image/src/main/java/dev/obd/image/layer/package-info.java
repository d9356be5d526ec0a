/**
 * Opening layers and stacking them: {@link dev.obd.image.layer.LayerReader#open} peels tar, ZFile
 * and LSMT off any {@link dev.obd.image.ByteSource}; {@link dev.obd.image.layer.LayerStack#open}
 * merges up to 255 lowers under an optional writable upper into a {@link
 * dev.obd.image.VirtualDisk}; {@link dev.obd.image.layer.SparseExport} writes a disk to a sparse
 * raw image.
 */
package dev.obd.image.layer;
