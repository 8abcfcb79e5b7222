package android.content;

import android.os.Bundle;

public class Intent {
    public Bundle getExtras() { throw new RuntimeException("Stub!"); }
}
