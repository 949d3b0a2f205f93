from .state_dict import StateDictMismatchError, load_state_dict_report

__all__ = ['StateDictMismatchError', 'load_state_dict_report']
