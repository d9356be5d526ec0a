/**
 * The EROFS format as OverlayBD layers carry it: an in-memory tree ({@link
 * dev.obd.image.erofs.ErofsNode}) and the metadata writer and reader ({@link
 * dev.obd.image.erofs.ErofsImage}).
 */
package dev.obd.image.erofs;
