"""The image datasets gancli knows by name: the one list behind train-mnist's,
eval's and train-classifier's --dataset and the loaders (gancli.data.images). A new
dataset is added here once. Plain data, no imports: config reads it before TensorFlow
loads."""

# name -> how messages call it; "folder" is the user's own images (--data PATH)
TITLES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
          "folder": "image folder"}
DATASETS = tuple(TITLES)
