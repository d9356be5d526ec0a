package dev.obd.daemonsupport;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

/**
 * Replaces, in both daemons, the JVM's handling of SIGTERM and SIGINT (run shutdown hooks, exit
 * 143/130) with a callback, so that the daemon can stop gracefully and exit 0 as systemd expects.
 *
 * <p>Uses {@code sun.misc.Signal} from the {@code jdk.unsupported} module, which every JDK exports.
 * It is reached reflectively only because javac's "internal proprietary API" warning cannot be
 * suppressed and this build treats warnings as errors.
 */
public final class Signals {
  private Signals() {}

  /** Calls {@code onSignal} (on a JVM signal thread; it must not block) for each signal. */
  public static void onTermination(Runnable onSignal) {
    try {
      Class<?> signal = Class.forName("sun.misc.Signal");
      Class<?> handler = Class.forName("sun.misc.SignalHandler");
      Object callback =
          Proxy.newProxyInstance(
              Signals.class.getClassLoader(),
              new Class<?>[] {handler},
              (proxy, method, args) -> {
                if (method.getName().equals("handle")) {
                  onSignal.run();
                  return null;
                }
                return switch (method.getName()) {
                  case "hashCode" -> System.identityHashCode(proxy);
                  case "equals" -> proxy == args[0];
                  default -> "Signals.handler";
                };
              });
      for (String name : new String[] {"TERM", "INT"}) {
        Object sig = signal.getConstructor(String.class).newInstance(name);
        signal.getMethod("handle", signal, handler).invoke(null, sig, callback);
      }
    } catch (ClassNotFoundException
        | NoSuchMethodException
        | InstantiationException
        | IllegalAccessException
        | InvocationTargetException e) {
      throw new IllegalStateException("cannot install SIGTERM/SIGINT handlers", e);
    }
  }
}
