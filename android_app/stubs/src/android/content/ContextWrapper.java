package android.content;

import android.content.res.AssetManager;
import java.io.File;

public class ContextWrapper extends Context {
    public ContextWrapper(Context base) { throw new RuntimeException("Stub!"); }

    @Override
    public AssetManager getAssets() { throw new RuntimeException("Stub!"); }

    @Override
    public File getExternalFilesDir(String type) { throw new RuntimeException("Stub!"); }
}
