package android.app;

import android.content.Intent;
import android.os.Bundle;
import android.view.ContextThemeWrapper;
import android.view.View;
import android.view.Window;

public class Activity extends ContextThemeWrapper {
    public Activity() { throw new RuntimeException("Stub!"); }

    protected void onCreate(Bundle savedInstanceState) { throw new RuntimeException("Stub!"); }

    protected void onDestroy() { throw new RuntimeException("Stub!"); }

    public void setContentView(int layoutResID) { throw new RuntimeException("Stub!"); }

    public <T extends View> T findViewById(int id) { throw new RuntimeException("Stub!"); }

    public Window getWindow() { throw new RuntimeException("Stub!"); }

    public Intent getIntent() { throw new RuntimeException("Stub!"); }

    public final void runOnUiThread(Runnable action) { throw new RuntimeException("Stub!"); }

    public void finish() { throw new RuntimeException("Stub!"); }
}
