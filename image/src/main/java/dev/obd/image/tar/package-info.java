/** The single-file tar wrapper that makes a layer blob a tar for registries (PAX and ustar). */
package dev.obd.image.tar;
