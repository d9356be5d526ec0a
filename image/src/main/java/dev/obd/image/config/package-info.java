/**
 * The config.v1.json model shared by the snapshotter (writer) and the backstore (reader): {@link
 * dev.obd.image.config.ImageConfig} and {@link dev.obd.image.config.ImageConfigJson}.
 */
package dev.obd.image.config;
