// Worker thread entry: corrects raw sequence files (tasks from correctRun).
import { correctSequenceFile } from "./offline.ts";
import { serveTasks } from "./pool.ts";

serveTasks(correctSequenceFile);
