"""Help → Reading the screen: what the numbers, the colours and the warnings mean.

The text is Markdown, written for clinicians and students, and it is the README's sections
"Reading the screen" and "Practice" word for word (tests keep them equal), so the app and the
documentation never tell two stories. The app shows it with Qt's own Markdown renderer.
"""

from __future__ import annotations

__all__ = ["PRACTICE", "PRACTICE_TITLE", "READING_THE_SCREEN", "READING_THE_SCREEN_TITLE"]

READING_THE_SCREEN_TITLE = "Reading the screen"

READING_THE_SCREEN = """\
**The probabilities** are the model's confidence for each of its four classes (glioma,
meningioma, no tumour, pituitary tumour) *on images like its training data*: single 2-D
slices from the public Brain Tumor MRI Dataset. They are calibrated on the 655 validation
images of that data set, so among images it scores at 80 %, about 80 % were right there.
They are not the probability that a patient has a tumour: the data set has no clinical
population, no follow-up and no other diagnoses, and its test images include near-copies of
training images, which makes every accuracy on it look better than it would be elsewhere.

**The heat map** shows which parts of the image most raised the model's score for the class
it explains (the predicted class unless you choose another under "Explain"). Only the
strongest half of the map is coloured, dark red to yellow as the evidence grows; weaker parts
are left uncoloured, so a map that spreads over the whole brain shows as a large patch, not as
a tint everywhere. It is a coarse map (a 9 × 9 grid stretched over the image) and it is
rescaled for every image, so there is always a coloured area, even when the evidence is weak.
It is not a segmentation and not an outline of a lesion.

How far to trust it was measured, not guessed: on validation slices whose lesions a reader
marked with boxes, the caption under the overlay says in how many of them the map's strongest
point fell on the lesion, for the class shown. For meningiomas it usually does; for gliomas
and pituitary tumours often not, because this model's answer for them hardly depends on the
lesion itself (hiding the lesion barely changes it): the map then shows what the model used,
which is not the tumour. A map on healthy tissue, on the skull or on the image border says
that the model used something other than the tumour.

For a **"no tumour"** answer no map is drawn: there is no lesion to point at, and a coloured
patch on a healthy brain is easily taken for one. Choose a tumour class under "Explain" to see
what would speak for it. **"Occlusion (slow)"** under "Method" hides one patch of the image
at a time and measures how much the answer drops: slower (a few seconds on a laptop), but it
can only show what the answer really depends on.

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

PRACTICE_TITLE = "Practice"

PRACTICE = """\
**The Practice tab** is for reading slices yourself before a machine tells you. Open a folder
of labelled slices (one sub-folder per class, such as the data set's *Testing* folder), or the
**practice set** that comes with the app: 20 slices, 5 per class, from the data set's Testing
folder, which the default model never trained on (`assets/practice/README.md`). The slices
come one at a time, in a shuffled order that is the same every time for the same folder, with
the model's answer hidden and nothing on screen that names the file.

**Answer first** with a button or the keys 1–4 (in the order of the buttons). Then the truth
appears, with the model's answer, its confidence and its heat map: the parts of the slice that
most raised its score for its answer (none is drawn for a "no tumour" answer). Enter goes to
the next slice.

**The summary** sets your accuracy and your confusion matrix beside the model's, on the same
slices, with 95 % intervals, and lists the slices you missed with the model's answer for each.
It exports as CSV (one row per answer) and as a one-page PDF. On 20 slices an interval is
about 35 points wide: a drill, not an examination.

**Your answers stay on this computer**, in your own folder (`practice/` in the app's user
folder), so you can stop and go on later; **Clear my answers** deletes them all, and
**Practise again** starts a folder from its first slice. Nothing is sent anywhere.
**Research and education only — not for clinical use.**
"""
