package dev.obd.obdctl;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.obd.image.FileByteSource;
import dev.obd.image.layer.Layer;
import dev.obd.image.layer.LayerReader;
import dev.obd.image.lsmt.LsmtFile;
import dev.obd.image.lsmt.LsmtHeader;
import dev.obd.image.lsmt.SegmentIndex;
import dev.obd.image.tar.TarWrapper;
import dev.obd.image.zfile.ZFileHeader;
import dev.obd.image.zfile.ZFileReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code obdctl inspect}: what a layer file is made of. */
@Command(
    name = "inspect",
    description = {
      "Show the wrappers (tar, ZFile), header fields, index entry counts, virtual size and uuids"
          + " of layer files: blobs, ZFiles, committed, sealed or writable LSMT files."
    })
final class InspectCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--json", description = "Print JSON instead of text.")
  boolean json;

  @Option(names = "--verify", description = "Also check the CRC of every ZFile block.")
  boolean verify;

  @Parameters(paramLabel = "FILE", arity = "1..*", description = "Layer files to inspect.")
  List<Path> files;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    List<Map<String, Object>> reports = new ArrayList<>();
    int failures = 0;
    for (Path f : files) {
      Map<String, Object> r;
      try {
        r = inspect(f);
      } catch (IOException e) {
        failures++;
        r = new LinkedHashMap<>();
        r.put("file", f.toString());
        r.put("error", e.getMessage());
        err.println("obdctl inspect: " + e.getMessage());
      }
      reports.add(r);
    }
    if (json) {
      out.println(
          new ObjectMapper()
              .enable(SerializationFeature.INDENT_OUTPUT)
              .writeValueAsString(reports.size() == 1 ? reports.get(0) : reports));
    } else {
      for (Map<String, Object> r : reports) {
        printText(out, r, "");
        out.println();
      }
    }
    return failures == 0 ? 0 : 1;
  }

  private Map<String, Object> inspect(Path f) throws IOException {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("file", f.toString());
    try (FileByteSource src = FileByteSource.open(f)) {
      r.put("size", src.size());
      Optional<LsmtHeader> plain = LsmtFile.readHeader(src);
      if (plain.isPresent() && !isReadOnlyLayer(plain.get(), src)) {
        r.put("lsmt", headerMap(plain.get(), kindOf(plain.get())));
        return r;
      }
      Layer layer = LayerReader.open(src);
      layer.tar().ifPresent(t -> r.put("tar", tarMap(t)));
      if (layer.zfile().isPresent()) {
        r.put("zfile", zfileMap(layer.zfile().get()));
      }
      Map<String, Object> l = new LinkedHashMap<>();
      LsmtFile lsmt = layer.lsmt();
      l.put("kind", lsmt.header().isSealed() ? "committed" : "sealed");
      l.put("headerFlags", hex(lsmt.header().flags()));
      l.put("trailerFlags", hex(lsmt.trailer().flags()));
      l.put("version", lsmt.trailer().version() + "." + lsmt.trailer().subVersion());
      l.put("virtualSize", lsmt.virtualSize());
      l.put("uuid", lsmt.trailer().uuid().toString());
      l.put("parentUuid", lsmt.trailer().parentUuid().toString());
      l.put("userTag", lsmt.trailer().userTagText());
      SegmentIndex idx = lsmt.index();
      Map<String, Object> i = new LinkedHashMap<>();
      i.put("offset", lsmt.trailer().indexOffset());
      i.put("storedEntries", lsmt.storedEntries());
      i.put("entries", idx.size());
      i.put("dataEntries", idx.size() - idx.zeroedCount());
      i.put("zeroedEntries", idx.zeroedCount());
      i.put("paddingEntries", Math.max(0, lsmt.storedEntries() - idx.size()));
      i.put("dataBytes", idx.dataSectors() * 512);
      l.put("index", i);
      r.put("lsmt", l);
    }
    return r;
  }

  /** Whether a plain LSMT file is a committed or sealed one (else a writable file). */
  private static boolean isReadOnlyLayer(LsmtHeader h, FileByteSource src) throws IOException {
    if (!h.isDataFile()) {
      return false;
    }
    try {
      LsmtFile.open(src);
      return true;
    } catch (IOException e) {
      return h.isSealed(); // a committed header: let the full open report what is wrong
    }
  }

  private static String kindOf(LsmtHeader h) {
    if (!h.isDataFile()) {
      return "writable index";
    }
    return h.isSparse() ? "writable data (sparse)" : "writable data";
  }

  private static Map<String, Object> headerMap(LsmtHeader h, String kind) {
    Map<String, Object> l = new LinkedHashMap<>();
    l.put("kind", kind);
    l.put("headerFlags", hex(h.flags()));
    l.put("version", h.version() + "." + h.subVersion());
    l.put("virtualSize", h.virtualSize());
    l.put("uuid", h.uuid().toString());
    l.put("parentUuid", h.parentUuid().toString());
    l.put("userTag", h.userTagText());
    return l;
  }

  private static Map<String, Object> tarMap(TarWrapper t) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("kind", t.kind().name());
    m.put("entry", t.entryName());
    m.put("payloadOffset", t.payloadOffset());
    m.put("payloadSize", t.payloadSize());
    return m;
  }

  private Map<String, Object> zfileMap(ZFileReader z) throws IOException {
    Map<String, Object> m = new LinkedHashMap<>();
    ZFileHeader h = z.header();
    ZFileHeader e = z.effectiveHeader();
    m.put("compression", z.compression().name());
    m.put("blockSize", z.blockSize());
    m.put("blocks", z.blockCount());
    m.put("blockCrc", e.verify());
    m.put("headerFlags", hex(h.flags()));
    m.put("indexFrom", h.isHeaderOverwrite() ? "header" : "trailer");
    m.put("originalSize", z.size());
    m.put("jumpTableOffset", e.indexOffset());
    if (verify) {
      m.put("verifiedBlocks", z.verifyAllBlocks());
    }
    return m;
  }

  private static String hex(long v) {
    return "0x" + Long.toHexString(v);
  }

  @SuppressWarnings("unchecked")
  private static void printText(PrintWriter out, Map<String, Object> m, String indent) {
    for (Map.Entry<String, Object> e : m.entrySet()) {
      if (e.getValue() instanceof Map) {
        out.println(indent + e.getKey() + ":");
        printText(out, (Map<String, Object>) e.getValue(), indent + "  ");
      } else {
        out.println(indent + e.getKey() + ": " + e.getValue());
      }
    }
  }
}
