"""Help → Reading the screen: what the numbers, the colours and the warnings mean.

The text is Markdown, written for clinicians and students, and it is the README's section
"Reading the screen" word for word (a test keeps the two equal), so the app and the
documentation never tell two stories. The app shows it with Qt's own Markdown renderer.
"""

from __future__ import annotations

__all__ = ["READING_THE_SCREEN", "READING_THE_SCREEN_TITLE"]

READING_THE_SCREEN_TITLE = "Reading the screen"

READING_THE_SCREEN = """\
**The probabilities** are the model's confidence for each of its four classes (glioma,
meningioma, no tumour, pituitary tumour) *on images like its training data*: single 2-D
slices from the public Brain Tumor MRI Dataset. They are calibrated on the 655 validation
images of that data set, so among images it scores at 80 %, about 80 % were right there.
They are not the probability that a patient has a tumour: the data set has no clinical
population, no follow-up and no other diagnoses, and its test images include near-copies of
training images, which makes every accuracy on it look better than it would be elsewhere.

**The Grad-CAM overlay** shows which parts of the image most raised the model's score for
the target class (the predicted class unless you choose another): red most, blue least. It
is a coarse map (about 7 × 7 cells stretched over the image), and it is rescaled for every
image, so there is always a red area, even when the evidence is weak. It is not a
segmentation and not an outline of a lesion: on a "notumor" prediction the red area marks
what the model used to decide "no tumour". A map on healthy tissue, on the skull or on the
image border says that the model used something other than the tumour.

**"Not like a brain MRI"** means the image is far from every training image in the model's
own feature space (further than 99 % of the validation scans). The class probabilities are
meaningless for it, so the app does not headline a class. It catches photographs, CT slices,
charts and most non-brain images, not every unusual MRI.

**"Low confidence"** means no class reaches 60 %: the model is unsure between classes, and
the image deserves no conclusion from it.

**The limits**: one slice at a time, no 3-D context, no patient history; four classes only,
so any other finding is forced into one of them; trained on one public collection of
uncertain scanners and protocols and never validated on a clinical population.
**Research and education only — not for clinical use.**
"""
