// <sib/train.hpp>: sib::train: the trainer, checkpoints, JSON-lines logs, progress.
#pragma once
#include <sib/train/checkpoint.hpp>
#include <sib/train/choice.hpp>
#include <sib/train/curves.hpp>
#include <sib/train/jsonl_log.hpp>
#include <sib/train/objective.hpp>
#include <sib/train/progress.hpp>
#include <sib/train/trainer.hpp>
