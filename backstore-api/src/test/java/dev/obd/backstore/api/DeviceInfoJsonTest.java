package dev.obd.backstore.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** The device state travels as an enum in Java and as upstream's strings in the control API. */
class DeviceInfoJsonTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void theStateIsWrittenAndReadAsItsLowerCaseName() throws Exception {
    DeviceInfo d =
        new DeviceInfo(
            "d1",
            "/x/config.v1.json",
            "/dev/nbd0",
            "nbd",
            DeviceState.BROKEN,
            "reconnect failed",
            true,
            4096,
            new DeviceInfo.Stats(0, 0, 0, 0, 0, 0, 0, 0, 0));
    String json = JSON.writeValueAsString(d);
    assertThat(json).contains("\"state\":\"broken\"");
    assertThat(JSON.readValue(json, DeviceInfo.class)).isEqualTo(d);
    assertThat(JSON.readValue(json.replace("\"broken\"", "\"attached\""), DeviceInfo.class).state())
        .isEqualTo(DeviceState.ATTACHED);
  }

  @Test
  void aStateNoDaemonSendsIsRefused() {
    assertThatThrownBy(() -> DeviceState.ofWireName("ATTACHED"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("unknown device state \"ATTACHED\"");
  }
}
