// Plugins are declared once here (versions from gradle/libs.versions.toml) and applied in
// the modules that need them.
plugins {
    alias(libs.plugins.android.application) apply false
}
