using UniPrune.Engine.Training;

// Thin entry for the train/evaluate verbs (UniPrune.Cli can forward its own `train` verb to TrainCommand.Run).
try { return TrainCommand.Run(args); }
catch (ArgumentException e) { Console.Error.WriteLine($"uniprune-train: {e.Message}"); return 2; }
