package androidx.activity;

import android.app.Activity;
import androidx.activity.result.ActivityResultCallback;
import androidx.activity.result.ActivityResultLauncher;
import androidx.activity.result.contract.ActivityResultContract;
import androidx.lifecycle.Lifecycle;
import androidx.lifecycle.LifecycleOwner;

// the real class extends androidx.core.app.ComponentActivity, which the app never names
public class ComponentActivity extends Activity implements LifecycleOwner {
    @Override
    public Lifecycle getLifecycle() { throw new RuntimeException("Stub!"); }

    public final <I, O> ActivityResultLauncher<I> registerForActivityResult(
            ActivityResultContract<I, O> contract, ActivityResultCallback<O> callback) { throw new RuntimeException("Stub!"); }
}
