package dev.obd.snapshotter.api;

import static org.assertj.core.api.Assertions.assertThat;

import dev.obd.snapshotter.errdefs.InvalidArgumentException;
import dev.obd.snapshotter.errdefs.NotFoundException;
import io.grpc.Status;
import java.io.UncheckedIOException;
import java.nio.file.FileSystemException;
import java.sql.SQLException;
import org.junit.jupiter.api.Test;

class ErrorMappingTest {
  @Test
  void sqliteFullIsResourceExhausted() {
    // what sqlite-jdbc throws when a write of the database or its WAL gets ENOSPC
    SQLException full =
        new SQLException(
            "[SQLITE_FULL] Insertion failed because database is full (database or disk is full)",
            null,
            13);
    Status s =
        ErrorMapping.toStatus(new RuntimeException("write snapshot k in /r/metadata.sqlite", full))
            .getStatus();
    assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(s.getDescription())
        .startsWith("write snapshot k in /r/metadata.sqlite")
        .contains("SQLITE_FULL")
        .endsWith(": resource exhausted");
  }

  @Test
  void enospcOfADirectoryOrFileIsResourceExhausted() {
    FileSystemException enospc =
        new FileSystemException("/r/snapshots/new-1/fs", null, "No space left on device");
    Status s =
        ErrorMapping.toStatus(new UncheckedIOException("create directory of snapshot k", enospc))
            .getStatus();
    assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(s.getDescription()).contains("No space left on device");
    FileSystemException quota = new FileSystemException("/r/x", null, "Disk quota exceeded");
    assertThat(
            ErrorMapping.toStatus(new UncheckedIOException("write", quota)).getStatus().getCode())
        .isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
  }

  @Test
  void aClassifiedErrorKeepsItsCodeEvenWhenTheDiskIsFull() {
    FileSystemException enospc = new FileSystemException("/r/x", null, "No space left on device");
    assertThat(
            ErrorMapping.toStatus(new InvalidArgumentException("bad label", enospc))
                .getStatus()
                .getCode())
        .isEqualTo(Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void otherFailuresAreUnknown() {
    assertThat(ErrorMapping.toStatus(new IllegalStateException("bug")).getStatus().getCode())
        .isEqualTo(Status.Code.UNKNOWN);
  }

  @Test
  void aHugeKeyInAMessageIsCutSoTheDescriptionFitsGrpcHeaders() {
    Status s =
        ErrorMapping.toStatus(new NotFoundException("snapshot " + "k".repeat(1 << 20))).getStatus();
    assertThat(s.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(s.getDescription())
        .hasSizeLessThanOrEqualTo(ErrorMapping.MAX_DESCRIPTION_CHARS + 40)
        .startsWith("snapshot kkk")
        .endsWith(": not found");
  }
}
