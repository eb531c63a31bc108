"""Learned enhancers, one folder per method: adding a method is one new folder plus its configs.

``gefu/methods/<name>/`` holds everything of one method:

- ``__init__.py``, the manifest: plain literals only (discovery reads it as data), so listing
  names imports no torch::

      ENHANCERS = {"zero_dce": ".network:ZeroDCE"}       # benchmark enhancers (gefu.enhancers)
      TRAINING = {"zero_dce": ".recipe:ZeroDCETraining"}  # training methods (gefu.train)
      RELEASES = ".release:RELEASES"                     # the authors' checkpoints (optional)
      LAYERS = {"enhancers": ("network", "release"), "train": ("recipe", "losses")}

  Targets are ``"module:attr"``; a leading ``.`` is relative to the folder. The manifest is
  the one declaration of these names: the classes carry no registering decorator, and know
  their names all the same (``registry_name``, looked up in the registry).
- ``network.py``: the enhancer (a ``gefu.enhancers.base.Enhancer``);
- ``release.py``: its released checkpoints (``gefu.enhancers.released.Release`` rows) and the
  released key layout ``network.py`` converts from; it imports no torch at module level and
  never imports ``network.py`` (the network calls into it);
- ``recipe.py``: the ``TrainMethod`` (``gefu.train.method``); ``losses.py``: its own losses.

The registries find the folders by themselves: ``gefu.core.manifests.manifests()`` lists the
packages on this package's search path and reads their manifests without importing them (nor
this package), for ``gefu.enhancers.ENHANCERS``, ``gefu.train.METHODS`` and
``gefu.enhancers.released.RELEASES``; so ``gefu.enhancers`` and ``gefu.train`` never import
``gefu.methods``. This file holds only this guide.

Layers (``tests/test_layers.py``): ``LAYERS`` places every module of the folder, and the test
fails for a module it leaves out or one it names that does not exist. ``"train"`` modules
(the recipe, its losses, e.g. ``hvr_ssle/train_data.py``, HVR-SSLE's degraded training photos,
and ``sagc/critic.py``, its segmentation critic) sit with ``gefu.train`` and may import it;
``"enhancers"`` modules (``network.py``, ``release.py`` and their helpers) are components:
they may import ``gefu.core``, ``gefu.enhancers`` and other folders' networks, never
``gefu.train`` or ``gefu.bench``.

Where shared code lives:
- A method built on another's network imports it from that folder: SCL-LLE is Zero-DCE's
  DCE-Net and SAGC Zero-DCE++'s separable one (``zero_dce/network.py``: ``CurveNet``,
  ``apply_curves``; the DCE-Net release layout in ``zero_dce/release.py``); SCUF's reflectance
  teacher is RetinexNet's DecomNet (``retinexnet/network.py``).
- A helper of one method stays in its folder (Semi-LLIE's selective scan,
  ``semi_llie/mamba_scan.py``; SCUF's attention, prompt and diffusers parts).
- Image helpers of every enhancer (``luminance``, padding) stay in ``gefu/enhancers/base.py``;
  the classic Retinex helpers in ``gefu/enhancers/retinex.py``.
- Losses used by several methods are in ``gefu/train/losses.py`` (Zero-DCE's zero-reference
  losses, which SCL-LLE reuses); a recipe may import another's helper (Semi-LLIE's perceptual
  term taps VGG through ``scl_lle/recipe.py``'s ``vgg_taps``); the frozen auxiliary networks
  (segmenters, VGG, RAM) are built by ``gefu/train/aux.py``.
"""
