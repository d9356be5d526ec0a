package dev.obd.daemonsupport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import jnr.unixsocket.UnixDatagramChannel;
import jnr.unixsocket.UnixSocketAddress;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sd_notify datagrams, received on a real unix datagram socket standing in for systemd's. */
class SystemdNotifierTest {
  @TempDir Path dir;

  @Test
  void aStateArrivesAsOneDatagramOnAPathSocket() throws IOException {
    Path socket = dir.resolve("notify.sock");
    try (UnixDatagramChannel systemd = UnixDatagramChannel.open()) {
      systemd.bind(new UnixSocketAddress(socket.toFile()));
      new SystemdNotifier(socket.toString()).notify("READY=1\nSTATUS=serving");
      assertThat(receive(systemd)).isEqualTo("READY=1\nSTATUS=serving");
    }
  }

  @Test
  void anAtSignNamesASocketInTheAbstractNamespace() throws IOException {
    String name = "obd-backstore-notify-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    try (UnixDatagramChannel systemd = UnixDatagramChannel.open()) {
      systemd.bind(new UnixSocketAddress("\0" + name));
      new SystemdNotifier("@" + name).notify("STOPPING=1");
      assertThat(receive(systemd)).isEqualTo("STOPPING=1");
    }
  }

  @Test
  void aSocketThatIsGoneIsReportedInTheLogNotThrown() {
    new SystemdNotifier(dir.resolve("nobody-listens.sock").toString()).notify("READY=1");
    new SystemdNotifier(null).notify("READY=1");
  }

  @Test
  void aSocketNameLongerThanAUnixAddressHoldsIsRefusedByName() {
    String tooLong = "/" + "x".repeat(107);
    assertThatThrownBy(() -> SystemdNotifier.address(tooLong))
        .isInstanceOf(IOException.class)
        .hasMessage("socket name longer than 107 bytes");
    new SystemdNotifier(tooLong).notify("READY=1");
  }

  static String receive(UnixDatagramChannel ch) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(4096);
    ch.configureBlocking(true);
    ch.socket().setSoTimeout(30_000);
    ch.receive(buf);
    buf.flip();
    return StandardCharsets.UTF_8.decode(buf).toString();
  }
}
