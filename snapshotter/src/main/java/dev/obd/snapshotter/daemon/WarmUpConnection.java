package dev.obd.snapshotter.daemon;

import com.google.protobuf.MessageLite;
import io.grpc.Status;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersDecoder;
import io.netty.handler.codec.http2.DefaultHttp2HeadersEncoder;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersEncoder;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One HTTP/2 connection that makes unary and server-streaming gRPC calls, one at a time, written
 * against the wire protocol with netty's HPACK coder instead of gRPC's client. The warm-up needs
 * real connections and real calls through the server, not a client: gRPC's channel, with its name
 * resolution, load balancing and retry machinery, loaded some 450 classes into the daemon that only
 * the warm-up used, and a third of the warm-up's first round went to them. The HPACK coder and the
 * protobuf messages are the ones the server loads anyway. Besides the calls it sends what grpc-go,
 * containerd's client, sends (a window update, PINGs, deadlines on some calls), so that the server
 * has answered those too.
 *
 * <p>Blocking; a read waits until the server answers or the calling thread is interrupted, which
 * closes the connection ({@link SocketChannel} is interruptible): the warm-up bounds its wait that
 * way. Not thread-safe: one thread per connection.
 */
final class WarmUpConnection implements AutoCloseable {
  private static final byte[] MAGIC =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
  private static final String SERVICE = "/containerd.services.snapshots.v1.Snapshots/";

  private static final int DATA = 0;
  private static final int HEADERS = 1;
  private static final int RST_STREAM = 3;
  private static final int SETTINGS = 4;
  private static final int PING = 6;
  private static final int GOAWAY = 7;
  private static final int WINDOW_UPDATE = 8;
  private static final int CONTINUATION = 9;

  private static final int END_STREAM = 0x1;
  private static final int ACK = 0x1;
  private static final int END_HEADERS = 0x4;
  private static final int PADDED = 0x8;
  private static final int PRIORITY = 0x20;

  private final SocketChannel channel;
  private final Path socket;
  private final Http2HeadersEncoder encoder =
      new DefaultHttp2HeadersEncoder(Http2HeadersEncoder.NEVER_SENSITIVE, false);
  private final DefaultHttp2HeadersDecoder decoder = new DefaultHttp2HeadersDecoder(true);
  private final ByteBuffer frameHeader = ByteBuffer.allocate(9);
  private int nextStream = 1;

  private WarmUpConnection(SocketChannel channel, Path socket) {
    this.channel = channel;
    this.socket = socket;
  }

  /** Connects and sends the client preface: the magic, then empty SETTINGS. */
  static WarmUpConnection open(Path socket) throws IOException {
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ch.connect(UnixDomainSocketAddress.of(socket));
      WarmUpConnection c = new WarmUpConnection(ch, socket);
      c.writeFully(ByteBuffer.wrap(MAGIC));
      c.writeFrame(SETTINGS, 0, 0, new byte[0]);
      // grpc-go widens the connection's window at once
      c.windowUpdate(0, 1 << 20);
      return c;
    } catch (IOException | RuntimeException e) {
      ch.close();
      throw e;
    }
  }

  /**
   * Waits for the server's first frame and checks that it is SETTINGS, the server's half of the
   * connection preface (the exchange grpc-go gives about a second); acknowledges it if {@code ack}
   * (a client that hangs up right after the preface, as a probe does, does not).
   */
  void awaitServerPreface(boolean ack) throws IOException {
    Frame f = readFrame();
    if (f.type != SETTINGS) {
      throw new IOException("the server's first frame on " + socket + " is of type " + f.type);
    }
    if (ack) {
      writeFrame(SETTINGS, ACK, 0, new byte[0]);
    }
  }

  /**
   * Calls {@code method} of the Snapshots service with {@code request} and returns the messages of
   * the answer, each as its bytes.
   *
   * @throws IOException if the call ends with another status than {@code expected}, or the
   *     connection fails
   */
  List<byte[]> call(String method, MessageLite request, Status.Code expected) throws IOException {
    int stream = nextStream;
    nextStream += 2;
    Http2Headers headers =
        new DefaultHttp2Headers()
            .method("POST")
            .scheme("http")
            .path(SERVICE + method)
            .authority("localhost")
            .add("content-type", "application/grpc")
            .add("user-agent", "grpc-go/1.72.2")
            .add("te", "trailers");
    if (stream % 4 == 1) {
      // every other call with a deadline, as containerd sends some: the server then arms a timer
      headers.add("grpc-timeout", "30S");
    }
    ByteBuf block = Unpooled.buffer();
    try {
      encoder.encodeHeaders(stream, headers, block);
      byte[] bytes = new byte[block.readableBytes()];
      block.readBytes(bytes);
      writeFrame(HEADERS, END_HEADERS, stream, bytes);
    } catch (Http2Exception e) {
      throw new IOException("encode the headers of " + method, e);
    } finally {
      block.release();
    }
    byte[] message = request.toByteArray();
    ByteBuffer data = ByteBuffer.allocate(5 + message.length);
    data.put((byte) 0).putInt(message.length).put(message);
    writeFrame(DATA, END_STREAM, stream, data.array());
    // grpc-go measures the connection's bandwidth with a PING after data it sends or receives
    writeFrame(PING, 0, 0, ByteBuffer.allocate(8).putLong(stream).array());
    return answer(method, stream, expected);
  }

  /** Reads frames until {@code stream} ends, answering the connection's SETTINGS and PINGs. */
  private List<byte[]> answer(String method, int stream, Status.Code expected) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    ByteArrayOutputStream headerBlock = null;
    boolean endAfterHeaders = false;
    while (true) {
      Frame f = readFrame();
      switch (f.type) {
        case SETTINGS -> {
          if ((f.flags & ACK) == 0) {
            writeFrame(SETTINGS, ACK, 0, new byte[0]);
          }
        }
        case PING -> {
          if ((f.flags & ACK) == 0) {
            writeFrame(PING, ACK, 0, f.payload);
          }
        }
        case GOAWAY -> throw new IOException(method + ": the server sent GOAWAY");
        case RST_STREAM -> {
          if (f.stream == stream) {
            throw new IOException(method + ": the server reset the stream");
          }
        }
        case DATA -> {
          int[] span = unpadded(f, 0);
          body.write(f.payload, span[0], span[1]);
          if (f.payload.length > 0) {
            // give back what the server's flow control counted, on the connection and the stream
            windowUpdate(0, f.payload.length);
            if ((f.flags & END_STREAM) == 0) {
              windowUpdate(f.stream, f.payload.length);
            }
          }
          if (f.stream == stream && (f.flags & END_STREAM) != 0) {
            throw new IOException(method + ": the stream ended without trailers");
          }
        }
        case HEADERS, CONTINUATION -> {
          if (f.type == HEADERS) {
            int[] span = unpadded(f, (f.flags & PRIORITY) != 0 ? 5 : 0);
            headerBlock = new ByteArrayOutputStream();
            headerBlock.write(f.payload, span[0], span[1]);
            endAfterHeaders = (f.flags & END_STREAM) != 0;
          } else if (headerBlock != null) {
            headerBlock.write(f.payload, 0, f.payload.length);
          }
          if ((f.flags & END_HEADERS) != 0 && headerBlock != null) {
            // every block goes through the decoder, in order: HPACK's table depends on it
            Http2Headers h = decode(f.stream, headerBlock.toByteArray());
            headerBlock = null;
            if (f.stream == stream && endAfterHeaders) {
              checkStatus(method, h, expected);
              return messages(method, body.toByteArray());
            }
          }
        }
        default -> {} // PRIORITY, WINDOW_UPDATE, unknown types: nothing to do for a client
      }
    }
  }

  private static void checkStatus(String method, Http2Headers trailers, Status.Code expected)
      throws IOException {
    CharSequence status = trailers.get("grpc-status");
    if (status == null) {
      throw new IOException(method + ": no grpc-status in " + trailers);
    }
    Status.Code code = Status.fromCodeValue(Integer.parseInt(status.toString())).getCode();
    if (code != expected) {
      throw new IOException(
          method
              + ": expected "
              + expected
              + ", got "
              + code
              + ": "
              + trailers.get("grpc-message"));
    }
  }

  private static List<byte[]> messages(String method, byte[] body) throws IOException {
    List<byte[]> out = new ArrayList<>();
    ByteBuffer b = ByteBuffer.wrap(body);
    while (b.hasRemaining()) {
      if (b.remaining() < 5 || b.get() != 0) {
        throw new IOException(method + ": malformed or compressed message in the answer");
      }
      int length = b.getInt();
      if (length < 0 || length > b.remaining()) {
        throw new IOException(method + ": message of " + length + " bytes is cut short");
      }
      byte[] m = new byte[length];
      b.get(m);
      out.add(m);
    }
    return out;
  }

  private Http2Headers decode(int stream, byte[] block) throws IOException {
    ByteBuf buf = Unpooled.wrappedBuffer(block);
    try {
      return decoder.decodeHeaders(stream, buf);
    } catch (Http2Exception e) {
      throw new IOException("decode the server's headers on stream " + stream, e);
    } finally {
      buf.release();
    }
  }

  /** Offset and length of a frame's payload without its padding and {@code skip} leading bytes. */
  private static int[] unpadded(Frame f, int skip) throws IOException {
    int start = 0;
    int padding = 0;
    if ((f.flags & PADDED) != 0) {
      if (f.payload.length < 1) {
        throw new IOException("padded frame without a pad length");
      }
      padding = f.payload[0] & 0xff;
      start = 1;
    }
    int length = f.payload.length - start - skip - padding;
    if (length < 0) {
      throw new IOException("frame of type " + f.type + " shorter than its padding");
    }
    return new int[] {start + skip, length};
  }

  private void windowUpdate(int stream, int increment) throws IOException {
    writeFrame(WINDOW_UPDATE, 0, stream, ByteBuffer.allocate(4).putInt(increment).array());
  }

  private record Frame(int type, int flags, int stream, byte[] payload) {}

  private Frame readFrame() throws IOException {
    frameHeader.clear();
    readFully(frameHeader);
    frameHeader.flip();
    int length = (frameHeader.get() & 0xff) << 16 | (frameHeader.getShort() & 0xffff);
    int type = frameHeader.get() & 0xff;
    int flags = frameHeader.get() & 0xff;
    int stream = frameHeader.getInt() & 0x7fffffff;
    ByteBuffer payload = ByteBuffer.allocate(length);
    readFully(payload);
    return new Frame(type, flags, stream, payload.array());
  }

  private void readFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      if (channel.read(b) < 0) {
        throw new IOException("the server closed the connection on " + socket);
      }
    }
  }

  private void writeFrame(int type, int flags, int stream, byte[] payload) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(9 + payload.length);
    b.put((byte) (payload.length >>> 16)).putShort((short) payload.length);
    b.put((byte) type).put((byte) flags).putInt(stream).put(payload).flip();
    writeFully(b);
  }

  private void writeFully(ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      channel.write(b);
    }
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }
}
