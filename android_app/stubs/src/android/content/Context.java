package android.content;

import android.content.res.AssetManager;
import java.io.File;

public abstract class Context {
    public abstract AssetManager getAssets();

    public abstract File getExternalFilesDir(String type);

    public final String getString(int resId) { throw new RuntimeException("Stub!"); }
}
