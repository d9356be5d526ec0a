package dev.obd.registry;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One HTTP/1.1 GET over a unix socket ({@code Connection: close}), which the JDK's HttpClient
 * cannot do: enough for an auth server's small JSON answer. The whole exchange ends by the timeout
 * (the socket is closed); answers over {@link #MAX_ANSWER} bytes are refused. Thread-safe.
 */
final class UnixSocketHttp {
  static final int MAX_ANSWER = 1 << 20;

  private static final ScheduledExecutorService TIMER =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "uds-http-timeout");
            t.setDaemon(true);
            return t;
          });

  private UnixSocketHttp() {}

  record Answer(int status, byte[] body) {}

  /** {@code GET pathAndQuery} with {@code Host: localhost} on {@code socket}. */
  static Answer get(Path socket, String pathAndQuery, Duration timeout) throws IOException {
    AtomicBoolean timedOut = new AtomicBoolean();
    // closed by the timer at the deadline as well, so not in a try-with-resources
    SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    try {
      ScheduledFuture<?> limit =
          TIMER.schedule(
              () -> {
                timedOut.set(true);
                try {
                  ch.close();
                } catch (IOException e) {
                  // closing is all there is to do
                }
              },
              timeout.toNanos(),
              TimeUnit.NANOSECONDS);
      try {
        ch.connect(UnixDomainSocketAddress.of(socket));
        String request =
            "GET "
                + pathAndQuery
                + " HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
                + "Connection: close\r\n\r\n";
        ByteBuffer out = ByteBuffer.wrap(request.getBytes(StandardCharsets.US_ASCII));
        while (out.hasRemaining()) {
          ch.write(out);
        }
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(8192);
        while (ch.read(buf) >= 0) {
          all.write(buf.array(), 0, buf.position());
          buf.clear();
          if (all.size() > MAX_ANSWER) {
            throw new IOException("answer larger than " + MAX_ANSWER + " bytes");
          }
        }
        return parse(all.toByteArray());
      } catch (IOException e) {
        if (timedOut.get()) {
          throw new java.net.SocketTimeoutException(
              "no complete answer within " + timeout.toMillis() + " ms");
        }
        throw e;
      } finally {
        limit.cancel(false);
      }
    } finally {
      ch.close();
    }
  }

  static Answer parse(byte[] raw) throws IOException {
    int headerEnd = indexOf(raw, "\r\n\r\n".getBytes(StandardCharsets.US_ASCII), 0);
    if (headerEnd < 0) {
      throw new IOException("answer ended inside its headers");
    }
    String[] lines = new String(raw, 0, headerEnd, StandardCharsets.ISO_8859_1).split("\r\n");
    String[] statusLine = lines[0].split(" ", 3);
    if (statusLine.length < 2 || !statusLine[0].startsWith("HTTP/1.")) {
      throw new IOException("not an HTTP/1.x answer");
    }
    int status;
    try {
      status = Integer.parseInt(statusLine[1]);
    } catch (NumberFormatException e) {
      throw new IOException("not an HTTP/1.x status line");
    }
    long contentLength = -1;
    boolean chunked = false;
    for (int i = 1; i < lines.length; i++) {
      int colon = lines[i].indexOf(':');
      if (colon <= 0) {
        continue;
      }
      String name = lines[i].substring(0, colon).trim().toLowerCase(Locale.ROOT);
      String value = lines[i].substring(colon + 1).trim();
      if (name.equals("content-length")) {
        try {
          contentLength = Long.parseLong(value);
        } catch (NumberFormatException e) {
          throw new IOException("bad Content-Length");
        }
      } else if (name.equals("transfer-encoding")
          && value.toLowerCase(Locale.ROOT).contains("chunked")) {
        chunked = true;
      }
    }
    int from = headerEnd + 4;
    if (chunked) {
      return new Answer(status, dechunk(raw, from));
    }
    int to = raw.length;
    if (contentLength >= 0) {
      if (from + contentLength > raw.length) {
        throw new IOException("answer shorter than its Content-Length");
      }
      to = (int) (from + contentLength);
    }
    byte[] body = new byte[to - from];
    System.arraycopy(raw, from, body, 0, body.length);
    return new Answer(status, body);
  }

  private static byte[] dechunk(byte[] raw, int at) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] crlf = "\r\n".getBytes(StandardCharsets.US_ASCII);
    while (true) {
      int eol = indexOf(raw, crlf, at);
      if (eol < 0) {
        throw new IOException("chunked answer cut short");
      }
      String sizeLine = new String(raw, at, eol - at, StandardCharsets.US_ASCII);
      int semi = sizeLine.indexOf(';');
      int size;
      try {
        size = Integer.parseInt((semi < 0 ? sizeLine : sizeLine.substring(0, semi)).trim(), 16);
      } catch (NumberFormatException e) {
        throw new IOException("bad chunk size");
      }
      at = eol + 2;
      if (size == 0) {
        return out.toByteArray();
      }
      if (size < 0 || at + size > raw.length) {
        throw new IOException("chunked answer cut short");
      }
      out.write(raw, at, size);
      at += size + 2;
    }
  }

  private static int indexOf(byte[] data, byte[] pattern, int from) {
    outer:
    for (int i = from; i <= data.length - pattern.length; i++) {
      for (int j = 0; j < pattern.length; j++) {
        if (data[i + j] != pattern[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}
