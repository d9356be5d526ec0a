package dev.obd.image.convert;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The expected file tree of an image, built by applying layer entries with OCI semantics in the
 * simplest possible way (a map from path to node), to compare a converted image against: whiteouts
 * of a layer apply to the layers below, so they are applied before its entries.
 */
final class FsModel {
  /** A file system object; hard links share one node. */
  static final class Node {
    char type;
    int mode;
    int uid;
    int gid;
    byte[] data = new byte[0];
    String target = "";
    int major;
    int minor;
    Map<String, byte[]> xattrs = new LinkedHashMap<>();
  }

  final Map<String, Node> tree = new TreeMap<>();

  /** Applies one layer: whiteouts against the tree so far first, then the entries in order. */
  void apply(List<TarBuilder.Entry> layer) {
    for (TarBuilder.Entry e : layer) {
      String name = strip(e.name);
      String dir = name.contains("/") ? name.substring(0, name.lastIndexOf('/')) : "";
      String base = name.substring(name.lastIndexOf('/') + 1);
      if (base.equals(".wh..wh..opq")) {
        removeUnder(dir, false);
      } else if (base.startsWith(".wh.")) {
        removeUnder((dir.isEmpty() ? "" : dir + "/") + base.substring(4), true);
      }
    }
    for (TarBuilder.Entry e : layer) {
      String name = strip(e.name);
      if (name.substring(name.lastIndexOf('/') + 1).startsWith(".wh.")) {
        continue;
      }
      ensureParents(name);
      Node existing = tree.get(name);
      if (e.type == '5' && existing != null && existing.type == '5') {
        existing.mode = e.mode;
        existing.uid = e.uid;
        existing.gid = e.gid;
        existing.xattrs.putAll(e.xattrs);
        continue;
      }
      if (existing != null) {
        removeUnder(name, true);
      }
      if (e.type == '1') {
        tree.put(name, tree.get(strip(e.link)));
        continue;
      }
      Node n = new Node();
      n.type = e.type;
      n.mode = e.mode;
      n.uid = e.uid;
      n.gid = e.gid;
      n.data = e.data;
      n.target = e.link;
      n.major = e.major;
      n.minor = e.minor;
      n.xattrs.putAll(e.xattrs);
      tree.put(name, n);
    }
  }

  private void ensureParents(String name) {
    String[] parts = name.split("/");
    StringBuilder p = new StringBuilder();
    for (int i = 0; i < parts.length - 1; i++) {
      if (p.length() > 0) {
        p.append('/');
      }
      p.append(parts[i]);
      tree.computeIfAbsent(
          p.toString(),
          k -> {
            Node d = new Node();
            d.type = '5';
            d.mode = 0755;
            return d;
          });
    }
  }

  private void removeUnder(String path, boolean self) {
    List<String> gone = new ArrayList<>();
    for (String k : tree.keySet()) {
      if ((self && k.equals(path)) || k.startsWith(path.isEmpty() ? "" : path + "/")) {
        if (!k.equals(path) || self) {
          gone.add(k);
        }
      }
    }
    gone.forEach(tree::remove);
  }

  private static String strip(String n) {
    String s = n.startsWith("./") ? n.substring(2) : n;
    return s.endsWith("/") ? s.substring(0, s.length() - 1) : s;
  }
}
