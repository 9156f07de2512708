"""The writers stage: results downloaded, checked (`checks`), labelled and
signed (`metadata`, `c2pa_boxes`), shaped for a channel (`profiles`,
`prepare`) and stored whole (`outputs`); each row's end recorded once
(`finishing`).
"""
