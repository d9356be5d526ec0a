package dev.obd.backstore.nbd;

import io.netty.buffer.ByteBuf;

/**
 * One transmission-phase request. For NBD_CMD_WRITE, {@code payload} holds the data and is owned
 * (and released) by whoever handles the request; it is null otherwise.
 */
record NbdRequest(int flags, int type, long handle, long offset, long length, ByteBuf payload) {}
