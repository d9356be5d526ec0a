package dev.obd.backstore.nbd;

import static dev.obd.backstore.nbd.NbdProtocol.*;

import dev.obd.image.VirtualDisk;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Serves transmission-phase requests of one connection. Each request runs on the dispatcher's
 * executor, so many are in flight at once and replies go out in completion order (the protocol
 * matches them by handle). NBD_CMD_DISC waits for the requests in flight, then closes.
 */
final class RequestHandler extends ChannelInboundHandlerAdapter {
  private static final Logger LOG = Logger.getLogger(RequestHandler.class.getName());

  private final Export export;
  private final RequestDispatcher dispatcher;
  private final boolean structuredReplies;
  private final AtomicInteger pending = new AtomicInteger();
  private volatile boolean disconnecting;

  RequestHandler(Export export, RequestDispatcher dispatcher, boolean structuredReplies) {
    this.export = export;
    this.dispatcher = dispatcher;
    this.structuredReplies = structuredReplies;
  }

  @Override
  public void channelActive(ChannelHandlerContext ctx) throws Exception {
    dispatcher.stats().connections.increment();
    super.channelActive(ctx);
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    if (ctx.channel().isActive()) {
      dispatcher.stats().connections.increment();
    }
  }

  @Override
  public void channelInactive(ChannelHandlerContext ctx) throws Exception {
    dispatcher.stats().connections.decrement();
    super.channelInactive(ctx);
  }

  @Override
  public void channelRead(ChannelHandlerContext ctx, Object msg) {
    NbdRequest r = (NbdRequest) msg;
    if (r.type() == CMD_DISC) {
      disconnecting = true;
      if (pending.get() == 0) {
        ctx.close();
      }
      return;
    }
    if (disconnecting) {
      release(r);
      return;
    }
    pending.incrementAndGet();
    dispatcher.stats().inFlight.incrementAndGet();
    try {
      dispatcher.executor().execute(() -> serve(ctx, r));
    } catch (RejectedExecutionException e) {
      finish(ctx);
      release(r);
      simpleReply(ctx, r.handle(), ESHUTDOWN);
    }
  }

  private void serve(ChannelHandlerContext ctx, NbdRequest r) {
    try {
      switch (r.type()) {
        case CMD_READ:
          read(ctx, r);
          break;
        case CMD_WRITE:
          write(ctx, r);
          break;
        case CMD_FLUSH:
          dispatcher.stats().flushes.increment();
          export.disk().flush();
          simpleReply(ctx, r.handle(), 0);
          break;
        case CMD_TRIM:
          trim(ctx, r);
          break;
        default:
          simpleReply(ctx, r.handle(), EINVAL);
      }
    } catch (IOException | RuntimeException e) {
      dispatcher.stats().errors.increment();
      LOG.log(
          Level.WARNING,
          "NBD "
              + commandName(r.type())
              + " of "
              + r.length()
              + " bytes at "
              + r.offset()
              + " on export "
              + export.name()
              + " failed: "
              + e.getMessage(),
          LOG.isLoggable(Level.FINE) ? e : null);
      if (r.type() == CMD_READ && structuredReplies) {
        errorChunk(ctx, r.handle(), EIO, e.getMessage());
      } else {
        simpleReply(ctx, r.handle(), EIO);
      }
    } finally {
      release(r);
      finish(ctx);
    }
  }

  private void read(ChannelHandlerContext ctx, NbdRequest r) throws IOException {
    int error = check(r, false);
    if (error != 0) {
      if (structuredReplies) {
        errorChunk(ctx, r.handle(), error, "request outside the export or misaligned");
      } else {
        simpleReply(ctx, r.handle(), error);
      }
      return;
    }
    int length = (int) r.length();
    int headerSize = structuredReplies ? 28 : 16;
    ByteBuf reply = ctx.alloc().directBuffer(headerSize + length);
    try {
      if (structuredReplies) {
        reply.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE);
        reply.writeShort(REPLY_TYPE_OFFSET_DATA).writeLong(r.handle()).writeInt(8 + length);
        reply.writeLong(r.offset());
      } else {
        reply.writeInt(SIMPLE_REPLY_MAGIC).writeInt(0).writeLong(r.handle());
      }
      ByteBuffer dst = reply.nioBuffer(reply.writerIndex(), length);
      export.disk().read(r.offset(), dst);
      if (dst.hasRemaining()) {
        throw new IOException("short read from the disk at " + r.offset());
      }
      reply.writerIndex(reply.writerIndex() + length);
      dispatcher.stats().reads.increment();
      dispatcher.stats().bytesRead.add(length);
      ctx.writeAndFlush(reply);
      reply = null;
    } finally {
      if (reply != null) {
        reply.release();
      }
    }
  }

  private void write(ChannelHandlerContext ctx, NbdRequest r) throws IOException {
    int error = check(r, true);
    if (error != 0) {
      simpleReply(ctx, r.handle(), error);
      return;
    }
    VirtualDisk disk = export.disk();
    disk.write(r.offset(), r.payload().nioBuffer());
    if ((r.flags() & CMD_FLAG_FUA) != 0) {
      disk.flush();
    }
    dispatcher.stats().writes.increment();
    dispatcher.stats().bytesWritten.add(r.length());
    simpleReply(ctx, r.handle(), 0);
  }

  private void trim(ChannelHandlerContext ctx, NbdRequest r) throws IOException {
    int error = check(r, true);
    if (error != 0) {
      simpleReply(ctx, r.handle(), error);
      return;
    }
    export.disk().trim(r.offset(), r.length());
    if ((r.flags() & CMD_FLAG_FUA) != 0) {
      export.disk().flush();
    }
    dispatcher.stats().trims.increment();
    simpleReply(ctx, r.handle(), 0);
  }

  /** Returns the errno for a request that cannot be served, or 0. */
  private int check(NbdRequest r, boolean modifies) {
    if (modifies && export.readOnly()) {
      return EPERM;
    }
    long size = export.disk().size();
    if (r.offset() < 0 || r.length() > size || r.offset() > size - r.length()) {
      return modifies ? ENOSPC : EINVAL;
    }
    if (r.length() > MAX_PAYLOAD) {
      return r.type() == CMD_TRIM ? 0 : EOVERFLOW;
    }
    return 0;
  }

  private void finish(ChannelHandlerContext ctx) {
    dispatcher.stats().inFlight.decrementAndGet();
    if (pending.decrementAndGet() == 0 && disconnecting) {
      ctx.close();
    }
  }

  private static void release(NbdRequest r) {
    if (r.payload() != null && r.payload().refCnt() > 0) {
      r.payload().release();
    }
  }

  private void simpleReply(ChannelHandlerContext ctx, long handle, int error) {
    if (error != 0) {
      dispatcher.stats().errors.increment();
    }
    ByteBuf reply = ctx.alloc().buffer(16);
    reply.writeInt(SIMPLE_REPLY_MAGIC).writeInt(error).writeLong(handle);
    ctx.writeAndFlush(reply);
  }

  private void errorChunk(ChannelHandlerContext ctx, long handle, int error, String message) {
    byte[] m = String.valueOf(message).getBytes(StandardCharsets.UTF_8);
    int msgLength = Math.min(m.length, 4096);
    ByteBuf reply = ctx.alloc().buffer(20 + 6 + msgLength);
    reply.writeInt(STRUCTURED_REPLY_MAGIC).writeShort(REPLY_FLAG_DONE).writeShort(REPLY_TYPE_ERROR);
    reply.writeLong(handle).writeInt(6 + msgLength);
    reply.writeInt(error).writeShort(msgLength).writeBytes(m, 0, msgLength);
    ctx.writeAndFlush(reply);
  }

  private static String commandName(int type) {
    switch (type) {
      case CMD_READ:
        return "read";
      case CMD_WRITE:
        return "write";
      case CMD_FLUSH:
        return "flush";
      case CMD_TRIM:
        return "trim";
      default:
        return "command " + type;
    }
  }

  @Override
  public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
    if (cause instanceof DecoderException) {
      LOG.warning("NBD connection on export " + export.name() + ": " + cause.getMessage());
    } else {
      LOG.log(Level.FINE, "NBD connection on export " + export.name() + " failed", cause);
    }
    ctx.close();
  }
}
