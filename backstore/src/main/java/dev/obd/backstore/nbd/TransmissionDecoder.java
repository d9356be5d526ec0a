package dev.obd.backstore.nbd;

import static dev.obd.backstore.nbd.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.CorruptedFrameException;
import java.util.List;

/**
 * Splits the transmission-phase byte stream into {@link NbdRequest}s (28-byte header, plus the data
 * of a write). A bad magic or an oversized write ends the connection: after that the stream cannot
 * be re-synchronised.
 */
final class TransmissionDecoder extends ByteToMessageDecoder {

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    while (in.readableBytes() >= REQUEST_HEADER_SIZE) {
      int start = in.readerIndex();
      int magic = in.getInt(start);
      if (magic != REQUEST_MAGIC) {
        throw new CorruptedFrameException(
            "bad NBD request magic 0x" + Integer.toHexString(magic) + "; closing");
      }
      int flags = in.getUnsignedShort(start + 4);
      int type = in.getUnsignedShort(start + 6);
      long handle = in.getLong(start + 8);
      long offset = in.getLong(start + 16);
      long length = in.getUnsignedInt(start + 24);
      ByteBuf payload = null;
      if (type == CMD_WRITE) {
        if (length > MAX_PAYLOAD) {
          throw new CorruptedFrameException("NBD write of " + length + " bytes is too large");
        }
        if (in.readableBytes() < REQUEST_HEADER_SIZE + length) {
          return;
        }
        in.skipBytes(REQUEST_HEADER_SIZE);
        payload = in.readRetainedSlice((int) length);
      } else {
        in.skipBytes(REQUEST_HEADER_SIZE);
      }
      out.add(new NbdRequest(flags, type, handle, offset, length, payload));
    }
  }
}
