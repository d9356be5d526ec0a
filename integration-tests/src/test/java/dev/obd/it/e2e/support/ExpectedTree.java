package dev.obd.it.e2e.support;

import dev.obd.testsupport.oci.TarLayer;
import dev.obd.testsupport.oci.TarLayer.Entry;
import dev.obd.testsupport.oci.TarLayer.Type;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What a container must see after a stack of layers is applied with OCI semantics: later entries
 * replace earlier ones, {@code .wh.<name>} deletes a path and everything below it, {@code
 * .wh..wh..opq} hides what lower layers put in a directory, hard links share their target's
 * content. Computed independently of containerd and of the snapshotter.
 */
public final class ExpectedTree {
  private final TreeMap<String, Entry> files = new TreeMap<>();

  public static ExpectedTree of(List<TarLayer> layers) {
    ExpectedTree t = new ExpectedTree();
    layers.forEach(t::apply);
    return t;
  }

  private void apply(TarLayer layer) {
    Set<String> thisLayer = new HashSet<>();
    for (Entry e : layer.entries()) {
      String path = e.path();
      int slash = path.lastIndexOf('/');
      String dir = slash < 0 ? "" : path.substring(0, slash);
      String base = path.substring(slash + 1);
      if (base.equals(".wh..wh..opq")) {
        new ArrayList<>(files.subMap(dir + "/", dir + "0").keySet())
            .stream().filter(p -> !thisLayer.contains(p)).forEach(files::remove);
      } else if (base.startsWith(".wh.")) {
        removeTree((dir.isEmpty() ? "" : dir + "/") + base.substring(4));
      } else {
        Entry existing = files.get(path);
        if (existing != null && (existing.type() != Type.DIR || e.type() != Type.DIR)) {
          removeTree(path);
        }
        Entry stored = e;
        if (e.type() == Type.HARDLINK) {
          Entry target = files.get(e.link());
          stored =
              new Entry(
                  path,
                  target.type(),
                  target.mode(),
                  target.uid(),
                  target.gid(),
                  target.content(),
                  target.link(),
                  target.major(),
                  target.minor(),
                  target.xattrs());
        }
        files.put(path, stored);
        thisLayer.add(path);
      }
    }
  }

  private void removeTree(String path) {
    files.remove(path);
    files.subMap(path + "/", path + "0").clear();
  }

  public Map<String, Entry> entries() {
    return java.util.Collections.unmodifiableMap(files);
  }

  /**
   * The listing the in-container {@link #LIST_SCRIPT} prints for directory {@code root}: per path,
   * {@code ./path|st_mode in hex|uid|gid|sha256, ->target or major,minor in hex}.
   */
  public List<String> listing(String root) {
    List<String> lines = new ArrayList<>();
    Entry top = files.get(root);
    lines.add(line(".", top));
    for (Map.Entry<String, Entry> f : files.subMap(root + "/", root + "0").entrySet()) {
      lines.add(line("./" + f.getKey().substring(root.length() + 1), f.getValue()));
    }
    // as sort(1) orders the paths: by the path alone, bytewise
    lines.sort(java.util.Comparator.comparing(l -> l.substring(0, l.indexOf('|'))));
    return lines;
  }

  /** The lines {@link #listScript} printed, to compare with {@link #listing}. */
  public static List<String> parse(String output) {
    return output.lines().map(String::strip).filter(l -> !l.isEmpty()).toList();
  }

  /** Prints {@link #listing} from inside a container; run with {@code sh -c}. */
  public static String listScript(String root) {
    return "cd /"
        + root
        + " && find . | sort | while IFS= read -r p; do "
        + "l=$(stat -c '%n|%f|%u|%g' \"$p\"); "
        + "if [ -L \"$p\" ]; then l=\"$l|->$(readlink \"$p\")\"; "
        + "elif [ -f \"$p\" ]; then l=\"$l|$(sha256sum \"$p\" | cut -c1-64)\"; "
        + "elif [ -c \"$p\" ] || [ -b \"$p\" ]; then l=\"$l|$(stat -c '%t,%T' \"$p\")\"; "
        + "else l=\"$l|\"; fi; echo \"$l\"; done";
  }

  private static String line(String name, Entry e) {
    int mode = e.type().modeBits() | (e.type() == Type.SYMLINK ? 0777 : e.mode());
    String extra =
        switch (e.type()) {
          case FILE, HARDLINK -> sha256hex(e.content());
          case SYMLINK -> "->" + e.link();
          case CHAR_DEVICE, BLOCK_DEVICE ->
              Integer.toHexString(e.major()) + "," + Integer.toHexString(e.minor());
          default -> "";
        };
    return name + "|" + Integer.toHexString(mode) + "|" + e.uid() + "|" + e.gid() + "|" + extra;
  }

  private static String sha256hex(byte[] data) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    } catch (NoSuchAlgorithmException ex) {
      throw new IllegalStateException(ex);
    }
  }
}
