package dev.obd.testsupport.grpc;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * The HTTP/2 connection preface as grpc-go's client does it, without gRPC: connect, send the client
 * preface and an empty SETTINGS frame, and wait for the server's first frame, its SETTINGS.
 * containerd 1.7 and 2.x give this exchange, from dial on, about a second.
 */
public final class Http2Preface {
  private static final byte[] CLIENT_PREFACE = clientPreface();

  private Http2Preface() {}

  /**
   * Nanoseconds from {@code since} until the server's SETTINGS arrived on a new connection. A
   * refused connection (a socket bound but not yet listening) is retried for up to ten seconds.
   */
  public static long exchange(Path socket, long since) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L;
    while (true) {
      try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
        ch.connect(UnixDomainSocketAddress.of(socket));
        ch.write(ByteBuffer.wrap(CLIENT_PREFACE));
        ByteBuffer header = ByteBuffer.allocate(9);
        while (header.hasRemaining()) {
          if (ch.read(header) < 0) {
            throw new IOException(socket + " closed the connection before its preface");
          }
        }
        long took = System.nanoTime() - since;
        if (header.get(3) != 4) {
          throw new IOException(socket + ": first frame is of type " + header.get(3));
        }
        return took;
      } catch (ConnectException refused) {
        if (System.nanoTime() > deadline) {
          throw refused;
        }
        Thread.sleep(0, 200_000);
      }
    }
  }

  private static byte[] clientPreface() {
    byte[] magic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
    byte[] settings = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    return ByteBuffer.allocate(magic.length + settings.length).put(magic).put(settings).array();
  }
}
