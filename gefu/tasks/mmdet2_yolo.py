"""``YOLOV3HeadMMDet2``: MMDetection 3.x's YOLOv3 head with the box post-processing of
MMDetection 2.x (GEFU's / MAET's mmdet 2.7 fork, ``YOLOV3Head._get_bboxes_single`` and
``multiclass_nms``), so a model trained there gives the same detections here.

The two differ in one step. 2.x, per feature level: boxes with confidence >= ``conf_thr``, of
those the ``nms_pre`` most confident; then over all levels the (box, class) pairs with class
score > ``score_thr``, scored class x confidence, NMS, ``max_per_img``. 3.x applies
``score_thr`` first and keeps the ``nms_pre`` best class scores over all levels. Use it with
``cfg_options: {model.bbox_head.type: YOLOV3HeadMMDet2}``; registered in mmdet's model
registry when the mmdet adapter builds a model.
"""

from __future__ import annotations

from mmdet.models.dense_heads import YOLOV3Head
from mmdet.registry import MODELS


@MODELS.register_module()
class YOLOV3HeadMMDet2(YOLOV3Head):
    """YOLOv3 head, 2.x post-processing (module doc); training as in 3.x."""

    def predict_by_feat(self, pred_maps, batch_img_metas, cfg=None, rescale=False, with_nms=True):
        import torch
        from mmcv.ops import batched_nms
        from mmengine.structures import InstanceData

        cfg = self.test_cfg if cfg is None else cfg
        sizes = [p.shape[-2:] for p in pred_maps]
        anchors = self.prior_generator.grid_priors(sizes, device=pred_maps[0].device)
        conf_thr, nms_pre = cfg.get("conf_thr", -1), cfg.get("nms_pre", -1)
        results = []
        for i, meta in enumerate(batch_img_metas):
            boxes, cls, conf = [], [], []
            for level, pred in enumerate(pred_maps):
                p = pred[i].permute(1, 2, 0).reshape(-1, self.num_attrib).clone()
                p[:, :2] = p[:, :2].sigmoid()
                b = self.bbox_coder.decode(anchors[level], p[:, :4], self.featmap_strides[level])
                c, k = p[:, 4].sigmoid(), p[:, 5:].sigmoid()
                keep = c >= conf_thr
                b, c, k = b[keep], c[keep], k[keep]
                if 0 < nms_pre < c.numel():
                    top = c.topk(nms_pre).indices
                    b, c, k = b[top], c[top], k[top]
                boxes.append(b), conf.append(c), cls.append(k)
            b, c, k = torch.cat(boxes), torch.cat(conf), torch.cat(cls)
            if rescale:
                b = b / b.new_tensor(meta["scale_factor"]).repeat((1, 2))
            rows, labels = (k > cfg.score_thr).nonzero(as_tuple=True)
            b, scores = b[rows], (k * c[:, None])[rows, labels]
            if with_nms and scores.numel():
                _, keep = batched_nms(b, scores, labels, cfg.nms)
                keep = keep[: cfg.max_per_img]
                b, scores, labels = b[keep], scores[keep], labels[keep]
            results.append(InstanceData(bboxes=b, scores=scores, labels=labels))
        return results
