package android.os;

import java.util.Set;

public class BaseBundle {
    BaseBundle() { }

    /** Deprecated in API 33 for the typed getters; still present and working. */
    public Object get(String key) { throw new RuntimeException("Stub!"); }

    public Set<String> keySet() { throw new RuntimeException("Stub!"); }
}
