"""From-scratch pieces of the curriculum, each proven equal to its PyTorch twin in tests/.

    knn          L1/L2 distances (two-loop, one-loop, no-loop, memory-bounded), k-fold CV
    linear       multiclass SVM and softmax losses (naive and vectorized), LinearClassifier
    layers       hand-written forward/backward layers (affine ... conv, pooling, norms)
    nets         TwoLayerNet, FullyConnectedNet, ConvNet built only from those layers
    optim        SGD ... AdamW, on dicts of tensors or any torch.nn.Module
    init         Xavier/Kaiming initializers, zero-init of the last norm in a residual branch
    schedules    step, multi-step, cosine, linear, inverse sqrt, warm-up
    regularize   L1/L2 penalties, DropConnect, stochastic depth, cutout, mixup
    augment      flips, random resized crop, colour jitter on image batches
    gradcheck    numeric gradients and relative error
    tasks        recipe tasks: knn, linear-scratch, net-scratch

Submodules are imported on demand: `from scratchdl.scratch.knn import knn_predict`.
"""
