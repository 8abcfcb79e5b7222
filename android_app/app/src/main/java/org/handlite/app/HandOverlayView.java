package org.handlite.app;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.util.AttributeSet;
import android.view.MotionEvent;
import android.view.ScaleGestureDetector;
import android.view.View;
import org.handlite.core.Preprocess;

/**
 * Draws the hand box and the skeleton over the camera preview, and lets the user move the
 * box (drag) and resize it (pinch): the paper's network needs a hand crop and has no detector.
 *
 * <p>Coordinates: the box lives in view pixels; frames are W x H image pixels shown
 * centre-cropped to fill the view (PreviewView's FILL_CENTER), so image = (view - offset) /
 * scale with scale = max(viewW / W, viewH / H).
 */
public class HandOverlayView extends View {
    private final Paint boxPaint = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint bonePaint = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final Paint jointPaint = new Paint(Paint.ANTI_ALIAS_FLAG);
    private final ScaleGestureDetector pinch;

    private float boxCx = Float.NaN;
    private float boxCy;
    private float boxSide;
    private float lastX;
    private float lastY;

    private int imageW;
    private int imageH;
    private float[] keypoints; // image pixels
    private float[] scores;
    private int[][] skeleton;
    private float minScore = 0.005f; // the decoder's default min_confidence (config.py)

    public HandOverlayView(Context context, AttributeSet attrs) {
        super(context, attrs);
        boxPaint.setStyle(Paint.Style.STROKE);
        boxPaint.setStrokeWidth(4f);
        boxPaint.setColor(Color.WHITE);
        bonePaint.setStrokeWidth(6f);
        bonePaint.setColor(Color.rgb(0, 230, 118));
        jointPaint.setColor(Color.rgb(255, 214, 0));
        pinch = new ScaleGestureDetector(context, new ScaleGestureDetector.SimpleOnScaleGestureListener() {
            @Override
            public boolean onScale(ScaleGestureDetector d) {
                float min = 0.15f * Math.min(getWidth(), getHeight());
                boxSide = Math.max(min, Math.min(boxSide * d.getScaleFactor(), Math.max(getWidth(), getHeight())));
                invalidate();
                return true;
            }
        });
    }

    @Override
    protected void onSizeChanged(int w, int h, int oldw, int oldh) {
        super.onSizeChanged(w, h, oldw, oldh);
        if (Float.isNaN(boxCx)) {
            boxCx = w / 2f;
            boxCy = h / 2f;
            boxSide = 0.6f * Math.min(w, h);
        }
    }

    @Override
    public boolean onTouchEvent(MotionEvent e) {
        pinch.onTouchEvent(e);
        if (e.getPointerCount() == 1 && !pinch.isInProgress()) {
            switch (e.getActionMasked()) {
                case MotionEvent.ACTION_DOWN:
                    lastX = e.getX();
                    lastY = e.getY();
                    break;
                case MotionEvent.ACTION_MOVE:
                    boxCx += e.getX() - lastX;
                    boxCy += e.getY() - lastY;
                    lastX = e.getX();
                    lastY = e.getY();
                    invalidate();
                    break;
                default:
                    break;
            }
        }
        return true;
    }

    /** The frame size (upright) the analyser works on; called from any thread. */
    public synchronized void setImageSize(int w, int h) {
        imageW = w;
        imageH = h;
    }

    /** The hand box in image pixels, or null before the first frame size is known. */
    public synchronized Preprocess.Box imageBox() {
        if (imageW == 0 || getWidth() == 0 || Float.isNaN(boxCx)) {
            return null;
        }
        float s = scale();
        float side = boxSide / s;
        float x = (boxCx - offsetX(s)) / s - side / 2f;
        float y = (boxCy - offsetY(s)) / s - side / 2f;
        return Preprocess.Box.around(x, y, side, side, 1f);
    }

    /** New keypoints (image pixels) to draw; called from the analyser thread. */
    public synchronized void setResult(float[] xy, float[] scores, int[][] skeleton, float minScore) {
        this.keypoints = xy;
        this.scores = scores;
        this.skeleton = skeleton;
        this.minScore = minScore;
        postInvalidate();
    }

    private float scale() {
        return Math.max(getWidth() / (float) imageW, getHeight() / (float) imageH);
    }

    private float offsetX(float s) {
        return (getWidth() - imageW * s) / 2f;
    }

    private float offsetY(float s) {
        return (getHeight() - imageH * s) / 2f;
    }

    @Override
    protected synchronized void onDraw(Canvas canvas) {
        super.onDraw(canvas);
        if (!Float.isNaN(boxCx)) {
            float h = boxSide / 2f;
            canvas.drawRect(boxCx - h, boxCy - h, boxCx + h, boxCy + h, boxPaint);
        }
        if (keypoints == null || imageW == 0) {
            return;
        }
        float s = scale();
        float ox = offsetX(s);
        float oy = offsetY(s);
        if (skeleton != null) {
            for (int[] bone : skeleton) {
                int a = bone[0];
                int b = bone[1];
                // a joint the network is unsure of is drawn faintly, not hidden: users learn
                // where the model struggles
                bonePaint.setAlpha(Math.min(scores[a], scores[b]) < minScore ? 70 : 255);
                canvas.drawLine(ox + s * keypoints[2 * a], oy + s * keypoints[2 * a + 1],
                        ox + s * keypoints[2 * b], oy + s * keypoints[2 * b + 1], bonePaint);
            }
        }
        for (int k = 0; k < scores.length; k++) {
            jointPaint.setAlpha(scores[k] < minScore ? 70 : 255);
            canvas.drawCircle(ox + s * keypoints[2 * k], oy + s * keypoints[2 * k + 1], 8f, jointPaint);
        }
    }
}
