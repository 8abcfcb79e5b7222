package androidx.camera.view;

import android.content.Context;
import android.util.AttributeSet;
import android.widget.FrameLayout;
import androidx.camera.core.Preview;

public final class PreviewView extends FrameLayout {
    public PreviewView(Context context, AttributeSet attrs) { super(context, attrs); throw new RuntimeException("Stub!"); }

    public Preview.SurfaceProvider getSurfaceProvider() { throw new RuntimeException("Stub!"); }
}
