package androidx.core.content;

import android.content.Context;
import java.util.concurrent.Executor;

public class ContextCompat {
    protected ContextCompat() { }

    public static int checkSelfPermission(Context context, String permission) { throw new RuntimeException("Stub!"); }

    public static Executor getMainExecutor(Context context) { throw new RuntimeException("Stub!"); }
}
