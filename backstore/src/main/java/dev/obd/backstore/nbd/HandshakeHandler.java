package dev.obd.backstore.nbd;

import static dev.obd.backstore.nbd.NbdProtocol.*;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.logging.Logger;

/**
 * The fixed-newstyle negotiation phase of one connection: greets the client, answers NBD_OPT_LIST,
 * NBD_OPT_INFO, NBD_OPT_STRUCTURED_REPLY and NBD_OPT_ABORT, and on NBD_OPT_GO (or the old
 * NBD_OPT_EXPORT_NAME) hands the connection to the transmission phase. Unknown options get
 * NBD_REP_ERR_UNSUP, as the protocol asks. One instance per connection; runs on its event loop.
 */
final class HandshakeHandler extends ByteToMessageDecoder {
  private static final Logger LOG = Logger.getLogger(HandshakeHandler.class.getName());
  private static final int MAX_OPTION_LENGTH = 64 * 1024;

  private final Export export;
  private final RequestDispatcher dispatcher;
  private boolean clientFlagsSeen;
  private boolean noZeroes;
  private boolean structuredReplies;

  HandshakeHandler(Export export, RequestDispatcher dispatcher) {
    this.export = export;
    this.dispatcher = dispatcher;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    ByteBuf greeting = ctx.alloc().buffer(18);
    greeting.writeLong(NBDMAGIC).writeLong(IHAVEOPT);
    greeting.writeShort(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
    ctx.writeAndFlush(greeting);
    super.channelActive(ctx);
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (!clientFlagsSeen) {
      if (in.readableBytes() < 4) {
        return;
      }
      int flags = in.readInt();
      if ((flags & CLIENT_FIXED_NEWSTYLE) == 0) {
        LOG.fine("client without fixed newstyle support; closing");
        ctx.close();
        return;
      }
      noZeroes = (flags & CLIENT_NO_ZEROES) != 0;
      clientFlagsSeen = true;
    }
    while (ctx.channel().isActive() && in.readableBytes() >= 16) {
      int start = in.readerIndex();
      long magic = in.getLong(start);
      int option = in.getInt(start + 8);
      long length = in.getUnsignedInt(start + 12);
      if (magic != IHAVEOPT || length > MAX_OPTION_LENGTH) {
        LOG.fine(
            "bad option header (magic " + Long.toHexString(magic) + ", length " + length + ")");
        ctx.close();
        return;
      }
      if (in.readableBytes() < 16 + length) {
        return;
      }
      in.skipBytes(16);
      ByteBuf data = in.readSlice((int) length);
      if (handleOption(ctx, option, data)) {
        return; // transmission phase started; this handler is gone
      }
    }
  }

  /** Returns true when the negotiation ended and transmission began. */
  private boolean handleOption(ChannelHandlerContext ctx, int option, ByteBuf data) {
    switch (option) {
      case OPT_EXPORT_NAME:
        {
          String name = data.toString(StandardCharsets.UTF_8);
          if (!nameMatches(name)) {
            ctx.close(); // this option has no error reply: closing is the protocol's answer
            return true;
          }
          ByteBuf reply = ctx.alloc().buffer(134);
          reply.writeLong(export.disk().size()).writeShort(export.transmissionFlags());
          if (!noZeroes) {
            reply.writeZero(124);
          }
          ctx.writeAndFlush(reply);
          startTransmission(ctx);
          return true;
        }
      case OPT_ABORT:
        reply(ctx, option, REP_ACK, null).addListener(ChannelFutureListener.CLOSE);
        return true;
      case OPT_LIST:
        if (data.isReadable()) {
          errorReply(ctx, option, REP_ERR_INVALID, "NBD_OPT_LIST takes no data");
          return false;
        }
        {
          byte[] name = export.name().getBytes(StandardCharsets.UTF_8);
          ByteBuf server = ctx.alloc().buffer(4 + name.length);
          server.writeInt(name.length).writeBytes(name);
          reply(ctx, option, REP_SERVER, server);
          reply(ctx, option, REP_ACK, null);
        }
        return false;
      case OPT_STRUCTURED_REPLY:
        if (data.isReadable()) {
          errorReply(ctx, option, REP_ERR_INVALID, "NBD_OPT_STRUCTURED_REPLY takes no data");
          return false;
        }
        structuredReplies = true;
        reply(ctx, option, REP_ACK, null);
        return false;
      case OPT_INFO:
      case OPT_GO:
        return infoOrGo(ctx, option, data);
      default:
        errorReply(ctx, option, REP_ERR_UNSUP, "option " + option + " is not supported");
        return false;
    }
  }

  private boolean infoOrGo(ChannelHandlerContext ctx, int option, ByteBuf data) {
    if (data.readableBytes() < 6) {
      errorReply(ctx, option, REP_ERR_INVALID, "short NBD_OPT_INFO/GO request");
      return false;
    }
    long nameLength = data.readUnsignedInt();
    if (nameLength > data.readableBytes() - 2) {
      errorReply(ctx, option, REP_ERR_INVALID, "export name longer than the option");
      return false;
    }
    String name = data.readCharSequence((int) nameLength, StandardCharsets.UTF_8).toString();
    int requests = data.readUnsignedShort();
    if (data.readableBytes() != requests * 2) {
      errorReply(ctx, option, REP_ERR_INVALID, "information request count does not match length");
      return false;
    }
    if (!nameMatches(name)) {
      errorReply(ctx, option, REP_ERR_UNKNOWN, "no export named '" + name + "'");
      return false;
    }
    boolean wantName = false;
    boolean wantDescription = false;
    for (int i = 0; i < requests; i++) {
      int type = data.readUnsignedShort();
      wantName |= type == INFO_NAME;
      wantDescription |= type == INFO_DESCRIPTION;
    }
    ByteBuf info = ctx.alloc().buffer(12);
    info.writeShort(INFO_EXPORT)
        .writeLong(export.disk().size())
        .writeShort(export.transmissionFlags());
    reply(ctx, option, REP_INFO, info);
    // Block sizes are always sent: a client that ignores them still gets aligned kernel I/O.
    ByteBuf sizes = ctx.alloc().buffer(14);
    sizes.writeShort(INFO_BLOCK_SIZE);
    sizes.writeInt(export.blockSize()).writeInt(4096).writeInt(MAX_PAYLOAD);
    reply(ctx, option, REP_INFO, sizes);
    if (wantName) {
      byte[] n = export.name().getBytes(StandardCharsets.UTF_8);
      reply(
          ctx,
          option,
          REP_INFO,
          ctx.alloc().buffer(2 + n.length).writeShort(INFO_NAME).writeBytes(n));
    }
    if (wantDescription) {
      byte[] d = export.description().getBytes(StandardCharsets.UTF_8);
      reply(
          ctx,
          option,
          REP_INFO,
          ctx.alloc().buffer(2 + d.length).writeShort(INFO_DESCRIPTION).writeBytes(d));
    }
    reply(ctx, option, REP_ACK, null);
    if (option == OPT_GO) {
      startTransmission(ctx);
      return true;
    }
    return false;
  }

  private boolean nameMatches(String name) {
    return name.isEmpty() || name.equals(export.name());
  }

  private void startTransmission(ChannelHandlerContext ctx) {
    TransmissionPipeline.install(ctx.pipeline(), export, dispatcher, structuredReplies);
    ctx.pipeline().remove(this); // hands any bytes already buffered to the transmission decoder
  }

  private static io.netty.channel.ChannelFuture reply(
      ChannelHandlerContext ctx, int option, int type, ByteBuf payload) {
    int length = payload == null ? 0 : payload.readableBytes();
    ByteBuf header = ctx.alloc().buffer(20 + length);
    header.writeLong(OPTION_REPLY_MAGIC).writeInt(option).writeInt(type).writeInt(length);
    if (payload != null) {
      header.writeBytes(payload);
      payload.release();
    }
    return ctx.writeAndFlush(header);
  }

  private static void errorReply(ChannelHandlerContext ctx, int option, int type, String message) {
    byte[] m = message.getBytes(StandardCharsets.UTF_8);
    reply(ctx, option, type, ctx.alloc().buffer(m.length).writeBytes(m));
  }
}
