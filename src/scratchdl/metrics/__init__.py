"""Metrics, each proven equal to its reference implementation in the tests.

classification  epoch accumulators: loss, accuracy, top-k accuracy
bleu            the book's sentence BLEU and corpus BLEU (twin: sacrebleu)
bootstrap       paired-bootstrap interval of a corpus-BLEU difference
detection       VOC AP@0.5 and COCO mAP (twin: pycocotools)
segmentation    pixel accuracy and mIoU from one confusion matrix
frechet         Frechet distance between Gaussian fits of two feature sets (FID's formula)
stats           mean, sample std and the paired t-test over seeds
"""
