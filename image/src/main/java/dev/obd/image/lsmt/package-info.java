/**
 * The LSMT layer format: headers, 16-byte index entries, committed and sealed files ({@link
 * dev.obd.image.lsmt.LsmtFile}), the merge of layer indexes ({@link
 * dev.obd.image.lsmt.IndexMerger}), the committed-layer writer and the writable layer (append-only
 * or sparse) ({@link dev.obd.image.lsmt.WritableLayer}).
 */
package dev.obd.image.lsmt;
